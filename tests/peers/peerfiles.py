"""peerfiles: what the test peers share: writing a file so that a reader
never sees it half written."""
import os
import tempfile


def write_atomic(path, data):
    """Write data to a temporary name in path's folder, then rename it."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        # mkstemp makes the file 0600; give it ordinary permissions.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # No fsync: readers need only never to see a partial file, which the
        # rename gives; surviving a machine crash does not matter here.
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
