"""The ansible tree is clean: ansible-lint's production profile and ansible-playbook's
syntax check, as CI runs them (Debian's ansible and ansible-lint packages)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.test_provisioning_render import ANSIBLE, ansible_env


@pytest.mark.skipif(shutil.which("ansible-lint") is None, reason="ansible-lint is not installed (apt-get install -y ansible-lint)")
def test_ansible_lint_production_profile_is_clean(tmp_path):
    proc = subprocess.run(["ansible-lint", "--offline", "--nocolor", "--profile", "production"], cwd=ANSIBLE,
                          env=ansible_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "Passed with production profile" in proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="ansible is not installed (apt-get install -y ansible)")
@pytest.mark.parametrize("playbook", ["site.yml", "render.yml"])
def test_playbook_syntax_check(tmp_path, playbook):
    proc = subprocess.run(["ansible-playbook", "--syntax-check", playbook], cwd=ANSIBLE, env=ansible_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
