"""The one shape of a refusal the user can act on, raised by the rules and the use cases alike."""


class DomainError(ValueError):
    """A refusal the user can act on: `message` in the clinic's words, `field` the form field to show it beside
    (None: at the top of the form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


TEXT_MAX = 4000  # a free-text note on a form (what was found, why it is closed, the recommended action)


def checked_text(value: str, field: str, missing: str | None = None, limit: int = TEXT_MAX) -> str:
    """`value` stripped; refused beside `field` when longer than `limit`, or empty while `missing` says what to
    write."""
    value = value.strip()
    if missing and not value:
        raise DomainError(missing, field)
    if len(value) > limit:
        raise DomainError(f"At most {limit:,} characters.", field)
    return value


class RefillInputError(DomainError):
    """A refill input a clinician must correct; `field` names the input to blame."""


class OverfillRefused(RefillInputError): ...  # overfilling is an over-infusion risk factor


class InvalidConcentration(RefillInputError): ...


class InvalidDose(RefillInputError): ...


class InvalidVolume(RefillInputError): ...


class InvalidFlexSchedule(RefillInputError): ...


class InvalidDays(RefillInputError): ...


class InvalidTime(RefillInputError): ...
