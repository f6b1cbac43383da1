"""Install route (a): `colcon build` of a workspace holding this repository,
with the PyPI ROS 2 Jazzy wheels, gives importable messages, node executables
under lib/avatar and the launch/config files under share/avatar."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avatar.core.graph import GraphOptions, plan_graph

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_colcon_workspace_build(tmp_path):
    venv_bin = Path(sys.executable).parent
    colcon = venv_bin / "colcon"
    if not colcon.exists():
        pytest.fail("colcon is missing from the venv: run scripts/setup.sh")
    (tmp_path / "src").mkdir()
    os.symlink(REPO, tmp_path / "src" / "avatar")
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    build = subprocess.run([str(colcon), "build", "--event-handlers", "console_direct-"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    install = tmp_path / "install" / "avatar"
    all_nodes = plan_graph(GraphOptions(config=Path("x"), display="web", record="o.mp4"))
    for spec in all_nodes:
        assert os.access(install / "lib" / "avatar" / spec.executable, os.X_OK), spec.executable
    assert (install / "share" / "avatar" / "launch" / "avatar.launch.py").is_file()
    assert (install / "share" / "avatar" / "config" / "avatar.yaml").is_file()
    probe = ("from avatar.msg import AudioChunk, AvatarState, ExpressionControl, Expression; "
             "import avatar.msg, avatar.nodes.toolkit; print(avatar.msg.__file__)")
    run = subprocess.run(["bash", "-c", f"source install/setup.bash && {sys.executable} -c '{probe}'"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().startswith(str(install)), run.stdout
    shutil.rmtree(tmp_path / "build", ignore_errors=True)
