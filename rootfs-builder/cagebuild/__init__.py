"""cage's rootfs-builder: recipes (YAML) -> deterministic OCI image layouts, without Docker."""


class BuildError(Exception):
    """A failure with one line for the user: 'what failed: why [path]'."""
