from rest_framework import serializers

from nations.access.nested import audit_subject, prime_audit_subjects
from nations.api.fields import caller_disclosure, page_rows
from nations.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="username", read_only=True, help_text="The actor's username, or the username tried in a failed sign-in."
    )
    nation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)  # a sign-in: none
    details = serializers.DictField(read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "kind",
            "actor",
            "nation",
            "object_type",
            "object_id",
            "object_repr",
            "summary",
            "details",
            "ip_address",
            "path",
        ]
        read_only_fields = fields

    def to_representation(self, entry):
        """An entry whose subject the reader may not see names no id or reference of it: neutral text instead
        (``nations.access.nested``; the list already leaves out entries about a stock the reader may not see)."""
        data = super().to_representation(entry)
        disclosure = caller_disclosure(self)
        if disclosure is None:
            return data
        rows = page_rows(self.fields["object_id"], disclosure)
        if rows:
            prime_audit_subjects(disclosure, rows)
        subject = audit_subject(disclosure, entry)
        if subject.hidden:
            data.update(
                object_id=subject.object_id,
                object_repr=str(subject.object_repr),
                summary=str(subject.summary),
                details=subject.details,
            )
        return data
