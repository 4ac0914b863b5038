"""The inventory: one YAML file describes an xCAT management-node pair; it is validated once, here.

Defaults follow the xCAT procedure "HA management node with shared data" and its xcatha.py: the shared
directories, the service start order, the PostgreSQL paths and the VIP label ``eth0:0``. Every error is one
line naming the file, the key path (``nodes[1].static_ip``) and what was expected.

The model (``model.py``: Inventory, Node, Vip, ...) and its one reader (``reader.py``: load_inventory,
parse_inventory), named here as one module.
"""

from xcatha_verify.inventory.model import (
    DEFAULT_INVENTORY_PATH,
    DEFAULT_SERVICES,
    DEFAULT_SHARED_DATA,
    SERVICE_ROLES,
    Clock,
    Database,
    Inventory,
    Node,
    Service,
    SharedPath,
    Vip,
)
from xcatha_verify.inventory.reader import load_inventory, parse_inventory

__all__ = [
    "DEFAULT_INVENTORY_PATH", "DEFAULT_SERVICES", "DEFAULT_SHARED_DATA", "SERVICE_ROLES",
    "Clock", "Database", "Inventory", "Node", "Service", "SharedPath", "Vip",
    "load_inventory", "parse_inventory",
]
