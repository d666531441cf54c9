"""The report pipeline: read every result.json, then write the pages and files from them alone."""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import jinja2
from markupsafe import Markup

from .. import __version__
from .anonymize import Anonymizer
from .gradebook import write_class_files
from .labels import Translator
from .load import Batch, Entry, Unreadable, load_batch
from .model import StudentPage, dashboard, student_page

TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    """The templates, the shared stylesheet and the dashboard's script, loaded once per run."""

    def __init__(self, t: Translator):
        self.t = t
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.css = Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))
        script = (TEMPLATES / "dashboard.js").read_text(encoding="utf-8")
        self.script = Markup(script)
        # The page's Content-Security-Policy lets exactly this script run, and nothing else.
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        self.script_hash = f"'sha256-{digest}'"

    def _render(self, template: str, **context: object) -> str:
        return self.env.get_template(template).render(t=self.t, css=self.css, version=__version__, **context)

    def student(self, page: StudentPage) -> str:
        return self._render("student.html.j2", page=page, script_hash="")

    def dashboard(self, batch: Batch, names: Anonymizer, *, similarity: bool) -> str:
        view = dashboard(batch, self.t, names, similarity=similarity)
        return self._render("dashboard.html.j2", d=view, script=self.script, script_hash=self.script_hash)


def render_all(out_dir: Path, *, lang: str = "both") -> Batch:
    """Write `report.html` per submission, then `index.html`, `grades.csv`, `checks.csv` and `results.json`.

    These are the TA's own files: real names, hand grades merged. The published variants (anonymized,
    handouts) are written elsewhere by `publish`, never over these. Returns the batch as rendered.
    """
    t = Translator(lang)
    renderer = Renderer(t)
    batch = load_batch(out_dir)
    names = Anonymizer(batch.entries, enabled=False)
    for entry, _, html in student_pages(batch, renderer, names):
        write(entry.folder / "report.html", html)
    write(out_dir / "index.html",
          renderer.dashboard(batch, names, similarity=(out_dir / "similarity.html").is_file()))
    write_class_files(batch, out_dir, names)
    return batch


def student_pages(batch: Batch, renderer: Renderer, names: Anonymizer
                  ) -> Iterator[tuple[Entry, StudentPage, str]]:
    """Each submission's page; one the templates cannot show is listed as unreadable, the rest rendered."""
    for entry in batch.entries:
        try:
            page = student_page(entry, renderer.t, names)
            html = renderer.student(page)
        except Exception as exc:  # noqa: BLE001 - a result the pages cannot show is listed, the rest rendered
            batch.unreadable.append(Unreadable(entry.folder, f"report.html not written: {exc!r}"))
            continue
        yield entry, page, html


def hand_out(entry: Entry, page: StudentPage, html: str, handout: Path) -> None:
    """One self-contained folder per student: the page (images inlined) and the files it links to."""
    folder = handout / entry.folder.name
    write(folder / "report.html", html)
    for group in page.groups:
        for check in group.checks:
            for artifact in check.artifacts:
                source = entry.artifact(unquote(artifact.href))
                if artifact.image is None and source is not None:
                    target = folder / source.relative_to(entry.folder.resolve())
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
