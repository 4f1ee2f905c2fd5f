"""The render layer: one Jinja2 + Babel + WeasyPrint engine below reports and continuity.

``render.engine`` holds the environments (one per language and template folder), the es_CO
catalogue (``render/locale``), the number and date formatters, the document base template
(``render/templates/base.html.j2``) and the PDF renderer that fetches only bundled assets.
Templates and code carry English message ids; Spanish is the default language.
"""
