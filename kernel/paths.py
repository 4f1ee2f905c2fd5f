"""The one path rule: a relative path is relative to the folder of the file that names it.

A configuration's state_dir, store.url_file, reports.directory, web.config_file,
status_page.directory, continuity.plan and every secret's ``file``; a continuity plan's secret
files; a web configuration's certificates: each is read relative to its own file's folder, never
to the working directory, so a configuration means the same thing from systemd, a shell in another
folder or a test. Paths given on the command line (``--state-dir``) are the shell's, relative to
the working directory, as every command line's are.
"""

from __future__ import annotations

import os


def beside(file: str | os.PathLike[str], name: str | None) -> str | None:
    """``name`` as named in ``file``: absolute as given, or relative to ``file``'s folder."""
    if not name:
        return None
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(file)), os.path.expanduser(name)))
