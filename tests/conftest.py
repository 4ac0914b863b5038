pytest_plugins = ["xcatha_verify.lab.fixture"]
