"""Conversations, newest first, with full-text search over every message."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.models import ConversationListModel
from desktop.ui.theme import set_icon

__all__ = ["Sidebar"]


class Sidebar(QWidget):
    message_requested = Signal(int)  # a search hit's message id, after its conversation opened

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model: ConversationListModel = controller.conversations
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 4, 8)
        lay.setSpacing(6)
        top = QHBoxLayout()
        self.new_btn = QPushButton("New chat")
        set_icon(self.new_btn, "plus")
        self.new_btn.setToolTip("New conversation (Ctrl+N)")
        self.new_btn.clicked.connect(controller.new_conversation)
        top.addWidget(self.new_btn, 1)
        lay.addLayout(top)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search all messages")
        self.search.setClearButtonEnabled(True)
        lay.addWidget(self.search)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setUniformItemSizes(False)
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.clicked.connect(self._open)
        self.list.activated.connect(self._open)
        lay.addWidget(self.list, 1)

        self._extra_actions: list[QAction] = []
        self.rename_action = QAction("Rename…", self)
        self.rename_action.setShortcut(QKeySequence(Qt.Key.Key_F2))
        self.rename_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.rename_action.triggered.connect(self.rename_current)
        self.delete_action = QAction("Delete", self)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_action.triggered.connect(self.delete_current)
        self.list.addAction(self.rename_action)
        self.list.addAction(self.delete_action)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(lambda: controller.search(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(lambda: (self._debounce.stop(), controller.search(self.search.text())))
        controller.conversation_changed.connect(self._select)
        self.model.modelReset.connect(lambda: self._select(controller.session.conversation_id))

    def _select(self, conversation_id) -> None:
        row = self.model.row_of(conversation_id)
        sel = self.list.selectionModel()
        if row < 0:
            sel.clearSelection()
            return
        idx = self.model.index(row)
        if self.list.currentIndex() != idx:
            self.list.setCurrentIndex(idx)

    def _open(self, index: QModelIndex) -> None:
        cid = index.data(ConversationListModel.IdRole)
        msg = index.data(ConversationListModel.MessageRole)
        if cid is None:
            return
        if cid != self.controller.session.conversation_id:
            self.controller.open_conversation(cid)
        if msg is not None:
            self.message_requested.emit(msg)

    def current_id(self) -> int | None:
        idx = self.list.currentIndex()
        return idx.data(ConversationListModel.IdRole) if idx.isValid() else self.controller.session.conversation_id

    def add_menu_action(self, action: QAction) -> None:
        """Another part of the window (Export) adds its action to the right-click menu."""
        self._extra_actions.append(action)

    def conversation_menu(self) -> QMenu:
        """The right-click menu of a conversation: Rename, Delete, then what others added."""
        menu = QMenu(self)
        for action in (self.rename_action, self.delete_action, *self._extra_actions):
            menu.addAction(action)
        return menu

    def _menu(self, pos) -> None:
        idx = self.list.indexAt(pos)
        if not idx.isValid():
            return
        self.list.setCurrentIndex(idx)
        menu = self.conversation_menu()
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def rename_current(self) -> None:
        cid = self.current_id()
        if cid is None:
            return
        row = self.model.row_of(cid)
        old = self.model.rows[row].title if row >= 0 else ""
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", QLineEdit.EchoMode.Normal, old)
        if ok and title.strip():
            self.controller.rename_conversation(cid, title)

    def delete_current(self) -> None:
        cid = self.current_id()
        if cid is not None:
            self.controller.delete_conversation(cid)
