"""Bilingual (Chinese / English) text for everything a student or TA reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """One message in both course languages."""

    zh: str
    en: str

    def both(self) -> str:
        """The form stored in result.json's `message`: Chinese first, English after."""
        if self.zh == self.en:
            return self.en
        return f"{self.zh} / {self.en}"

    def as_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}

    def pick(self, lang: str) -> str:
        """`zh`, `en` or `both`, as the reports' --lang option."""
        return {"zh": self.zh, "en": self.en}.get(lang, self.both())


def text(zh: str, en: str) -> Text:
    return Text(zh, en)
