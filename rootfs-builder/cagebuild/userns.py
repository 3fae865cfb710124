"""Where a child layer is made: as root, in the host's user namespace; rootless, in a user
namespace of its own where root is the invoking user and ids 1-65536 are the user's
subordinate ids (newuidmap/newgidmap, through util-linux unshare). Its root can then install
packages (dpkg chowns to _apt, man, ...), and the ids the layer records are the ids inside,
exactly as a root build records them."""
import os
import pwd
import shutil

from . import BuildError, idshift

NEEDED_IDS = 65536  # uids/gids 0-65535 of a Debian system: root, the system users, agent, nobody


def _subordinate(kind):
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    found = idshift._subordinate_range(f'/etc/sub{kind}', name, uid)
    if found is None or found[1] < NEEDED_IDS:
        raise BuildError(f'a rootless build needs {NEEDED_IDS} subordinate {kind}s for {name}: '
                         f'add a line "{name}:100000:{NEEDED_IDS}" to /etc/sub{kind} (as root) [/etc/sub{kind}]')
    return found


def check():
    """Refuses, before anything is built, a rootless build that could not map its ids (mmdebstrap's
    unshare mode needs the same ranges)."""
    if os.getuid() != 0:
        wrap([])


def wrap(argv):
    """ARGV run where a child layer is made (see above)."""
    if os.getuid() == 0:
        return argv
    for tool in ('newuidmap', 'newgidmap'):
        if not shutil.which(tool):
            raise BuildError(f'a rootless build needs {tool}: not installed (apt-get install uidmap)')
    uids, gids = _subordinate('uid'), _subordinate('gid')
    # Ids 1-65535 from the subordinate range; 0 is the invoking user, so the build's own files
    # (the layer, the scratch directories) stay the user's.
    return ['unshare', '--map-root-user', f'--map-users={uids[0]},1,{NEEDED_IDS - 1}',
            f'--map-groups={gids[0]},1,{NEEDED_IDS - 1}'] + argv
