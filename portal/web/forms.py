"""Field helpers shared by the forms of several areas."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from wtforms import DateField, Form, IntegerField, PasswordField, StringField, TimeField
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Regexp

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms before 3.3
    SelectChoice = None

from portal.services.errors import InvalidInput
from portal.services.passwords import MAX_LENGTH
from portal.web import transactions


def new_password_field(label: str = "New password") -> PasswordField:
    """A new-password input: shape only; the policy is checked by the service."""
    return PasswordField(
        label,
        validators=[DataRequired("Enter a password."),
                    Length(max=MAX_LENGTH, message=f"Use at most {MAX_LENGTH} characters.")],
        description="At least 8 characters. A short phrase of unrelated words is strong and "
                    "easy to remember.",
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH},
    )


def confirm_field(other: str) -> PasswordField:
    """Type the new password again."""
    return PasswordField(
        "Type it again",
        validators=[DataRequired("Type the password again."),
                    EqualTo(other, message="The two passwords don't match.")],
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH},
    )


def current_password_field(label: str = "Your password",
                           missing: str = "Enter your password.") -> PasswordField:
    """The signed-in user's password, asked again before a change that matters."""
    return PasswordField(
        label, validators=[DataRequired(missing), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


def app_code_field(label: str = "Code from your app") -> StringField:
    """A 6-digit code from an authenticator app (spaces allowed, as some apps show them)."""
    return StringField(
        label,
        validators=[DataRequired("Enter the 6-digit code from your authenticator app."),
                    Regexp(r"^\s*(\d\s*){6}$", message="Enter the 6 digits your app shows.")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 12,
                   "autocapitalize": "off", "spellcheck": "false"},
    )


def recovery_code_field(label: str = "Recovery code", description: str = "") -> StringField:
    """A recovery code, or (where the service allows either) a code from the app."""
    return StringField(
        label, description=description,
        validators=[DataRequired("Enter a code."),
                    Length(max=40, message="That code is too long.")],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false",
                   "maxlength": 40},
    )


def drop_nul(value):
    """Field filter: remove NUL characters, which PostgreSQL cannot store in text (a pasted
    one would otherwise end in a database error instead of a saved form)."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def apply_error(form: FlaskForm, error: InvalidInput, *, keep_writes: bool = False) -> None:
    """Show a service's InvalidInput next to its field, or above the form."""
    if not keep_writes:
        # The form comes back to be corrected, so nothing the service began may be kept:
        # doing it here means no view that shows the message can forget.
        transactions.mark_failed()
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message] if field.errors else [error.message]
    else:
        form.form_errors.append(error.message)


def safe_next(target: str | None) -> str | None:
    """The target when it is a path on this site, otherwise None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


class _BlankOrSays:
    """An input whose blank is None and whose bad value gets `invalid`, saying what to type."""

    invalid = ""

    def process_formdata(self, valuelist):
        raw = valuelist[0].strip() if valuelist else ""
        if not raw:
            self.data = None
            return
        try:
            super().process_formdata([raw])
        except ValueError as exc:
            self.data = None
            raise ValueError(self.invalid) from exc


class WholeNumberField(_BlankOrSays, IntegerField):
    """An integer input."""

    def __init__(self, label=None, validators=None, *, invalid="Enter a whole number.", **kw):
        kw.setdefault("render_kw", {"inputmode": "numeric"})
        super().__init__(label, validators, **kw)
        self.invalid = invalid


def choice(value, label: str):
    """One option of a select. WTForms 3.3 wants SelectChoice (tuples are deprecated there,
    and warnings fail the tests); older versions take tuples."""
    if SelectChoice is None:  # pragma: no cover - WTForms before 3.3
        return (value, label)
    return SelectChoice(value, label)


def within(limits: dict, key: str) -> NumberRange:
    """The service's range for a number, checked in the form too so every mistake in a
    form shows at once (the service checks again)."""
    limit = limits[key]
    if isinstance(limit, tuple):
        return NumberRange(*limit)
    return within_limit(limit)


def within_limit(limit) -> NumberRange:
    """A limit (anything with low, high and message) as a validator, so every mistake in a
    form shows at once (the service checks again)."""
    return NumberRange(limit.low, limit.high, limit.message)


def limit_attrs(limit) -> dict[str, object]:
    """render_kw for a whole-number input: the browser's min and max come from the limit (for
    a dose, the table in portal.models.dose, which programmes.js reads through them)."""
    return {"inputmode": "numeric", "min": limit.low, "max": limit.high}


# No id or count in the database goes past a 32-bit INTEGER (PostgreSQL's primary keys); a
# bigger number from a form would make the query itself fail (SQLite refuses past 64 bits).
LARGEST_NUMBER = 2**31 - 1


def int_or_none(value):
    """Coerce a posted number to int without failing, so the service can name the problem:
    None when blank, not a whole number, or larger than any id or count can be."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if abs(number) <= LARGEST_NUMBER else None


class ClockField(_BlankOrSays, TimeField):
    """An HH:MM time input."""

    invalid = "Enter a time like 09:30."


class DayField(_BlankOrSays, DateField):
    """A date input."""

    invalid = "Enter a date like 2026-03-04."


# --- many rows of one sub-form ---------------------------------------------------------------

# Where a row's own text goes in markup rendered once for all rows (control characters, which
# no form value reaches the markup with unescaped and no template writes).
_PREFIX, _VALUE, _ERROR, _OPTIONS = "\x01", "\x02", "\x03", "\x04"
_MARKERS = re.compile("([\x01\x02\x03\x04])")


class RowFields:
    """The fields of many sub-forms of one class (the rows of a FieldList), as the shared
    `field` macro renders them, at a fraction of the cost.

    WTForms builds each attribute of each control through Markup.format, which dominates the
    rendering of a long form. Here each field is rendered once per state (with an error or
    without) by the same macro and WTForms, with markers where a row's prefix, value, first
    error and options go; each row then only fills in its own, escaped. The HTML is the same
    as rendering every row in full (a test compares them), so labels, help, errors, ARIA
    attributes and validation are untouched.

    `wrapped` fields go through `field_macro` (label, help, error and control); `bare` ones
    are the control alone, with the given attributes (a hidden input).
    """

    def __init__(self, form_class: type[Form], field_macro: Callable, *,
                 wrapped: Iterable[str], bare: dict[str, dict] | None = None):
        self._form_class = form_class
        self._macro = field_macro
        self._wrapped = tuple(wrapped)
        self._bare = dict(bare or {})
        self._parts: dict[tuple[str, bool], list[str]] = {}

    def _render_once(self, name: str, with_error: bool) -> list[str]:
        """One field's markup with markers, split into literal text and markers."""
        # WTForms ends a prefix with "-": the marker stands for the whole of it.
        prefix = self._form_class(prefix=_PREFIX)[name].name[:-len(name)]
        sample = self._form_class(formdata=MultiDict({prefix + name: _VALUE}), prefix=_PREFIX)
        field = sample[name]
        if hasattr(field, "choices"):
            field.choices = []
        field.errors = [_ERROR] if with_error else []
        html = str(field(**self._bare[name]) if name in self._bare else self._macro(field))
        html = html.replace(prefix, _PREFIX)
        html = html.replace("></select>", ">" + _OPTIONS + "</select>")
        return _MARKERS.split(html)

    def __call__(self, form: Form) -> dict[str, Markup]:
        """Each field of one row (by name) as markup."""
        rendered = {}
        for name in (*self._wrapped, *self._bare):
            field = form[name]
            key = (name, bool(field.errors))
            parts = self._parts.get(key)
            if parts is None:
                parts = self._parts[key] = self._render_once(*key)
            own = {_PREFIX: escape(field.name[:-len(field.short_name)]),
                   _VALUE: escape(field._value()) if hasattr(field, "_value") else "",
                   _ERROR: escape(field.errors[0]) if field.errors else "",
                   _OPTIONS: "".join(_option(c) for c in field.iter_choices())
                   if hasattr(field, "iter_choices") else ""}
            # The literal parts are the macro's own markup; the row's parts were escaped above.
            rendered[name] = Markup("".join(own.get(part, part) for part in parts))  # noqa: S704
        return rendered


def _option(choice) -> str:
    """One <option> as WTForms' Select widget writes a plain choice."""
    value, label, selected = choice[0], choice[1], choice[2]
    return (f'<option {"selected " if selected else ""}value="{escape(value)}">'
            f"{escape(label)}</option>")
