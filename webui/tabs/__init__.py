"""The studio's tabs, one module (or small package) each; ``webui.ui.TABS`` lists them in page order.

Each lays itself out with ``layout(page)`` and wires itself with ``wire(page)`` (``webui.page``)
from plain handler functions: the Studio tab's live in ``webui.tab_generate``, ``tab_voices``,
``tab_clone`` and ``tab_presets``, History's in ``webui.tab_history``, Models' in ``webui.tab_models``,
the Timeline's in the package ``webui.tab_timeline``. A tab reaches
another tab's components by name through the page and never imports another tab.
"""
