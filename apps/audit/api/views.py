from drf_spectacular.utils import extend_schema

from apps.audit.api.serializers import AuditEntryFilter, AuditEntryOutput
from apps.audit.selectors import audit_entry_list
from apps.core.api import TenantApi


class AuditEntryListApi(TenantApi):
    required_scopes = {"GET": "admin"}

    @extend_schema(parameters=[AuditEntryFilter], responses=AuditEntryOutput(many=True), summary="Audit log")
    def get(self, request):
        filters = self.parse(AuditEntryFilter, request.query_params)
        return self.paginate(audit_entry_list(organization=self.organization, **filters), AuditEntryOutput)
