"""The plugin example of docs/plugins.md, run as written: its module and its test, in a pytest of
their own, so the page a plugin author copies from keeps working."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parent.parent / "docs" / "plugins.md"


def test_the_sms_plugin_example_of_the_plugin_guide_passes_its_own_test(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    [module] = [b for b in blocks if "class SmsChannel" in b]
    [test] = [b for b in blocks if "def test_an_sms_is_stored_answered_and_sent" in b]
    # and a body a gateway never sends is a 4xx that says why, not a 500
    test += """

async def test_a_malformed_sms_is_refused_with_400(tmp_path: Path, gateway: Any) -> None:
    server, _ = gateway
    config = Config.model_validate({
        "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        "lines": [{"id": "support", "name": "Support", "channels": [{
            "type": "smschat", "account": "main",
            "settings": {"api_base_url": str(server.make_url("/")),
                         "token": "t0ken", "webhook_secret": "hook-secret"},
        }]}],
    })
    app = Omniline(config, clock=VirtualClock(), channel_plugins={"smschat": plugin},
                   migrate=True, serve_http=False)
    await app.start()
    try:
        async with TestClient(TestServer(app.web)) as client:
            url = "/channels/smschat/main/webhook"
            auth = {"X-Sms-Secret": "hook-secret"}
            for body in (b'{"id": "x"}', b"[" * 60_000, b"{"):
                answer = await client.post(url, data=body, headers=auth)
                assert answer.status == 400, (body[:20], answer.status)
    finally:
        await app.stop()
"""
    (tmp_path / "omniline_smschat.py").write_text(module, encoding="utf-8")
    (tmp_path / "test_smschat.py").write_text(test, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
