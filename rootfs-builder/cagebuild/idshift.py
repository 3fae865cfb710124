"""Ownership of an unpacked image, as cage's user namespace will show it.

cage maps the container user (--user) to the invoking user and the other ids to the invoking
user's subordinate range (root without an /etc/subuid entry: 1000000000, 65536 ids). An image
unpacked for `cage run --rootfs DIR --user N` must therefore hold, for a layer's id I, the
host id that the map turns into I. Layers themselves hold plain (container) ids.
"""
import os
import pwd

ROOT_DEFAULT_RANGE = (1_000_000_000, 65536)


def _subordinate_range(path, name, uid):
    try:
        with open(path, encoding='utf-8') as file:
            for line in file:
                fields = line.strip().split(':')
                if len(fields) == 3 and fields[0] in (name, str(uid)):
                    return int(fields[1]), int(fields[2])
    except (OSError, ValueError):
        pass
    return None


class IdShift:
    """Container id -> host id for one kind of id (uid or gid), as cage maps them: the
    container's id CONTAINER to the invoking user's own id, the ids below and above it to the
    subordinate range, in order (runtime/idmap.cpp build_map)."""

    def __init__(self, container, own, start, count):
        self.container, self.own, self.start, self.count = container, own, start, count
        self.below = min(container, count)

    @classmethod
    def identity(cls):
        return cls(0, 0, 1, (1 << 32) - 2)

    @classmethod
    def of_cage(cls, kind, container):
        """The map of `cage run --user` with this container id, run by this process's user."""
        own = os.getuid() if kind == 'uid' else os.getgid()
        try:
            name = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            name = str(os.getuid())
        found = _subordinate_range(f'/etc/sub{kind}', name, os.getuid())
        if found is None and os.getuid() == 0:
            found = ROOT_DEFAULT_RANGE
        return cls(container, own, *(found or (0, 0)))

    def to_host(self, container):
        """The host id of a container id; None when the map leaves it out."""
        if container == self.container:
            return self.own
        if container < self.below:
            return self.start + container
        above = container - self.container - 1
        if container > self.container and above < self.count - self.below:
            return self.start + self.below + above
        return None
