"""What the browser forms of every app share. The forms check types only; the services check the
rules, and their messages are put on the forms, so the pages and the API say the same thing."""

from django import forms

# The services' word for a missing value, so a page and the API say the same.
REQUIRED_MESSAGE = "此项为必填项。"


class ServiceForm(forms.Form):
    """A form whose data goes to a service: Chinese labels without an ASCII colon, the services'
    wording for a missing value, and add_service_errors for a service's refusal."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # no ASCII colon after a Chinese label
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages["required"] = REQUIRED_MESSAGE

    def add_service_errors(self, errors: dict) -> None:
        """Put a service's errors ({field: [message, ...]}) on the form; a key that is not one of
        its fields (None, "refusals", ...) goes to the form as a whole."""
        for field, messages in errors.items():
            for message in messages:
                if isinstance(message, dict):  # a workflow's refusals: [{"code", "detail"}, ...]
                    message = message.get("detail", "")
                self.add_error(field if field in self.fields else None, message)
