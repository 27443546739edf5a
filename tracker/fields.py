"""Form fields shared by every blueprint."""

from wtforms import IntegerField

# Far beyond any clinical count here; keeps WTForms' NumberRange (which calls math.isnan) away from whole
# numbers too big for a float, which would raise OverflowError (a 500) instead of a form error.
MAX_WHOLE_NUMBER = 10**12


class WholeNumberField(IntegerField):
    """IntegerField that refuses absurdly large numbers as a form error."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if isinstance(self.data, int) and abs(self.data) > MAX_WHOLE_NUMBER:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
