"""Settings → Local endpoint: the switch starts the endpoint inside the running window (on
its qasync loop), the address can be copied, a new token is shown once and works, a
revoked one stops working at once, and the switch stops the server again."""

from __future__ import annotations

import httpx
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.endpoint.conftest import ISSUED


def _post(controller, url: str, token: str, out: list) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(f"{url}/chat/completions", headers={"Authorization": f"Bearer {token}"},
                                json={"model": "weak", "messages": [{"role": "user", "content": "hello there"}]})
            out.append(r)

    controller.spawn(go())


def test_the_switch_serves_tokens_work_and_revoking_refuses_them(ui, qtbot, sim):
    controller, window = ui
    controller.engine.preferences.set("ui.endpoint_port", 0)  # any free port
    window.open_settings()
    panel = window._settings.endpoint_panel
    window._settings.tabs.setCurrentWidget(panel)  # the user opens the Local endpoint tab
    assert not panel.switch.isChecked() and panel.address.text() == "" and not panel.copy_btn.isEnabled()

    panel.switch.setChecked(True)
    qtbot.waitUntil(lambda: controller.engine.endpoint.running and panel.switch.isEnabled(), timeout=10000)
    url = panel.address.text()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    qtbot.mouseClick(panel.copy_btn, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == url

    panel.name_edit.setText("vscode")
    panel.budget_edit.setText("5")
    qtbot.mouseClick(panel.new_btn, Qt.MouseButton.LeftButton)
    token = panel.token_edit.text()
    ISSUED.add(token)
    assert panel.token_box.isVisible() and token.startswith("rdk-")
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text() == "vscode"
    assert panel.table.item(0, 4).text() == "$5.00"
    qtbot.mouseClick(panel.token_copy, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == token
    qtbot.mouseClick(panel.token_done, Qt.MouseButton.LeftButton)
    assert not panel.token_box.isVisible() and panel.token_edit.text() == ""  # shown once
    QApplication.clipboard().clear()

    got: list = []
    _post(controller, url, token, got)
    qtbot.waitUntil(lambda: bool(got), timeout=10000)
    assert got[0].status_code == 200 and got[0].json()["model"] == "ollama/llama3.2:latest"
    assert controller.engine.conversations.list() == []  # not in the chat history
    # ... but in the window's spend, at once, and the chart can show this tool alone
    assert len(controller.spend.points) == 1
    assert ("vscode", "vscode") in controller.spend_filters()

    panel.table.selectRow(0)
    qtbot.mouseClick(panel.revoke_btn, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 0 and "no longer works" in panel.status.text()
    _post(controller, url, token, got)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10000)
    assert got[1].status_code == 401

    panel.switch.setChecked(False)
    qtbot.waitUntil(lambda: not controller.engine.endpoint.running and panel.switch.isEnabled(), timeout=10000)
    assert panel.address.text() == ""
    window._settings.close()


def test_a_port_in_use_is_said_in_plain_words(ui, qtbot):
    import socket

    controller, window = ui
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        controller.engine.preferences.set("ui.endpoint_port", busy.getsockname()[1])
        window.open_settings()
        panel = window._settings.endpoint_panel
        window._settings.tabs.setCurrentWidget(panel)  # the user opens the Local endpoint tab
        panel.switch.setChecked(True)
        qtbot.waitUntil(lambda: panel.switch.isEnabled(), timeout=10000)
        assert not panel.switch.isChecked() and not controller.engine.endpoint.running
        assert "can't listen" in panel.status.text() and "--port" in panel.status.text()
        window._settings.close()
    finally:
        busy.close()
