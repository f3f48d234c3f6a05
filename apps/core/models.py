"""Abstract model bases shared by every app."""

from django.db import models


class TimeStampedModel(models.Model):
    """A row with the times it was created and last saved, in UTC."""

    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        abstract = True
