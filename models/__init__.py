"""The model presets shipped with neurosim: this folder is installed as the package
``neurosim.builtin_presets`` (pyproject.toml), so ``load_preset("astdp")`` finds them wherever
neurosim is installed. The presets are the TOML files; this file only makes the folder a package."""
