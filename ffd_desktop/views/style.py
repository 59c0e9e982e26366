"""One dark, low-glare theme (video review is done in dim rooms) shared by every view."""

from __future__ import annotations

BACKGROUND = "#1b1e23"
PANEL = "#23272e"
PANEL_EDGE = "#343a43"
TEXT = "#e4e7eb"
MUTED = "#9aa3ad"
ACCENT = "#4c9ded"
DANGER = "#e05252"
OK = "#3fb37f"
WARN = "#e0a526"

def palette():
    """Dark palette for Fusion, so widgets the stylesheet leaves alone (spin boxes, dialogs, menus) match it."""
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, BACKGROUND), (roles.WindowText, TEXT), (roles.Base, BACKGROUND),
                         (roles.AlternateBase, PANEL), (roles.Text, TEXT), (roles.Button, PANEL_EDGE),
                         (roles.ButtonText, TEXT), (roles.Highlight, "#2f6fb0"), (roles.HighlightedText, "#ffffff"),
                         (roles.ToolTipBase, PANEL), (roles.ToolTipText, TEXT), (roles.PlaceholderText, MUTED),
                         (roles.Light, "#4a525d"), (roles.Midlight, PANEL_EDGE), (roles.Mid, PANEL_EDGE),
                         (roles.Dark, "#15171b"), (roles.Shadow, "#0d0e10"), (roles.Link, ACCENT)):
        p.setColor(role, QColor(colour))
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b737c"))
    return p


STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {PANEL_EDGE}; }}
QMenuBar {{ background: {BACKGROUND}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {PANEL_EDGE}; }}
QMenu {{ background: {PANEL}; border: 1px solid {PANEL_EDGE}; }}
QToolBar {{ background: {BACKGROUND}; border: none; border-bottom: 1px solid {PANEL_EDGE}; spacing: 4px;
            padding: 3px; }}
QToolBar::separator {{ background: {PANEL_EDGE}; width: 1px; margin: 4px 6px; }}
QToolButton {{ padding: 4px 8px; border-radius: 4px; }}
QToolButton:hover {{ background: {PANEL_EDGE}; }}
QToolButton:checked {{ background: #2d4a66; }}
QStatusBar {{ background: {BACKGROUND}; border-top: 1px solid {PANEL_EDGE}; color: {MUTED}; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: {BACKGROUND}; color: {MUTED}; padding: 6px 16px; border: none;
               border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; }}
QFrame#Panel {{ background: {PANEL}; border: 1px solid {PANEL_EDGE}; border-radius: 6px; }}
QLabel#PanelTitle {{ color: {MUTED}; font-size: 8.5pt; font-weight: 600; letter-spacing: 1px; }}
QLabel#Muted {{ color: {MUTED}; }}
QLabel#Mono {{ font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; }}
QPushButton {{ background: {PANEL_EDGE}; border: 1px solid #4a525d; border-radius: 4px; padding: 5px 12px; }}
QPushButton:hover {{ background: #3e4650; }}
QPushButton:disabled {{ color: #6b737c; }}
QPushButton#Primary {{ background: #2f6fb0; border-color: #3b82c9; }}
QPushButton#Danger {{ background: #7a2a2a; border-color: #9a3a3a; }}
QPushButton#Primary:disabled, QPushButton#Danger:disabled {{ background: {PANEL_EDGE}; border-color: #4a525d; }}
QProgressBar {{ background: {PANEL}; border: 1px solid {PANEL_EDGE}; border-radius: 3px; height: 12px;
               text-align: center; font-size: 8pt; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QSlider::groove:horizontal {{ height: 4px; background: {PANEL_EDGE}; border-radius: 2px; }}
QSlider::handle:horizontal {{ width: 12px; margin: -5px 0; border-radius: 6px; background: {ACCENT}; }}
QSlider::sub-page:horizontal {{ background: #2f6fb0; border-radius: 2px; }}
QLineEdit, QPlainTextEdit {{ background: {BACKGROUND}; border: 1px solid {PANEL_EDGE}; border-radius: 4px;
    padding: 3px 6px; selection-background-color: #2f6fb0; }}
QTableWidget {{ background: {PANEL}; alternate-background-color: #272c34; gridline-color: {PANEL_EDGE};
               border: 1px solid {PANEL_EDGE}; selection-background-color: #2d4a66; }}
QHeaderView::section {{ background: {BACKGROUND}; color: {MUTED}; border: none;
                       border-bottom: 1px solid {PANEL_EDGE}; padding: 5px; }}
QScrollArea {{ border: none; background: transparent; }}
QScrollBar:vertical {{ background: {BACKGROUND}; width: 10px; margin: 0; }}
QScrollBar::handle:vertical {{ background: {PANEL_EDGE}; border-radius: 4px; min-height: 30px; }}
QScrollBar:horizontal {{ background: {BACKGROUND}; height: 10px; margin: 0; }}
QScrollBar::handle:horizontal {{ background: {PANEL_EDGE}; border-radius: 4px; min-width: 30px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
QSplitter::handle {{ background: {BACKGROUND}; }}
QGroupBox {{ border: 1px solid {PANEL_EDGE}; border-radius: 6px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
"""
