"""simple-history's ``HistoricalRecords`` with the acting user indexed only on the rows that have one.

It can also leave out the index on ``history_date``, for a history that is only read object by object.
"""

from django.db import models
from simple_history.models import HistoricalRecords


class HistoricalRecordsWithPartialUserIndex(HistoricalRecords):
    """Historical records whose ``history_user`` index covers only the rows that name a user.

    simple-history indexes ``history_user`` on every row. Rows that an integration writes (a feed
    import run by a command or a Celery task) name no user, and a bulk import would insert one
    index entry per history row for them. Only deleting a user looks rows up by user: Django's
    ``SET_NULL`` update and the foreign key's check compare the column with the user's id, which
    implies that it is not NULL, so the partial index serves both.
    """

    def __init__(self, *args, date_index: bool = True, **kwargs) -> None:
        """``date_index=False`` leaves ``history_date`` unindexed, overriding the SIMPLE_HISTORY_DATE_INDEX setting.

        A history that is read only object by object (the admin's history page, ``prev_record``)
        finds its rows through the object's id index and sorts the few it gets. The date index
        serves only queries across all objects, such as ``as_of``, and costs a btree insert per row.
        """
        super().__init__(*args, **kwargs)
        self.date_index = date_index

    @property
    def _date_indexing(self):
        return super()._date_indexing if self.date_index else False

    def get_extra_fields(self, model, fields):
        extra_fields = super().get_extra_fields(model, fields)
        user_field = extra_fields.get("history_user")
        # With ``history_user_id_field`` simple-history gives a property here, and there is no index to replace.
        if isinstance(user_field, models.ForeignKey):
            user_field.db_index = False
        return extra_fields

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        if self.user_id_field is None:
            index = models.Index(
                fields=["history_user"],
                condition=models.Q(history_user__isnull=False),
                name=f"{model._meta.model_name}_hist_user_idx",
            )
            options["indexes"] = (*options.get("indexes", ()), index)
        return options
