"""The one shape of a refusal the user can act on, raised by the rules and the use cases alike."""


class DomainError(ValueError):
    """A refusal the user can act on: `message` in the clinic's words, `field` the form field to show it beside
    (None: at the top of the form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class RefillInputError(DomainError):
    """A refill input a clinician must correct; `field` names the input to blame."""


class OverfillRefused(RefillInputError): ...  # overfilling is an over-infusion risk factor


class InvalidConcentration(RefillInputError): ...


class InvalidDose(RefillInputError): ...


class InvalidVolume(RefillInputError): ...


class InvalidFlexSchedule(RefillInputError): ...


class InvalidDays(RefillInputError): ...


class InvalidTime(RefillInputError): ...
