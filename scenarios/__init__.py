"""The built-in scenarios: this folder is installed as the package ``neurosim.builtin_scenarios``
(pyproject.toml), so ``neurosim run rivalry`` finds them wherever neurosim is installed. The
scenarios are the TOML files; this file only makes the folder a package."""
