from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.accounts import selectors, services
from apps.accounts.api.serializers import (
    InvitationCreateInput,
    InvitationOutput,
    MemberOutput,
    MemberUpdateInput,
    OrganizationOutput,
    OrganizationUpdateInput,
)
from apps.core.api import TenantApi
from apps.core.schema import paginated


class OrganizationDetailApi(TenantApi):
    required_scopes = {"GET": None, "PATCH": "admin"}

    @extend_schema(
        responses=OrganizationOutput,
        operation_id="organization_retrieve",
        summary="The organization the key belongs to",
    )
    def get(self, request):
        return Response(OrganizationOutput(self.organization).data)

    @extend_schema(
        request=OrganizationUpdateInput,
        responses=OrganizationOutput,
        operation_id="organization_update",
        summary="Rename the organization",
    )
    def patch(self, request):
        data = self.parse(OrganizationUpdateInput, request.data)
        organization = services.organization_update(organization=self.organization, actor=self.actor, **data)
        return Response(OrganizationOutput(organization).data)


class MemberListApi(TenantApi):
    required_scopes = {"GET": "admin"}

    @extend_schema(responses=paginated(MemberOutput), operation_id="members_list", summary="List members")
    def get(self, request):
        return self.paginate(selectors.membership_list(organization=self.organization), MemberOutput)


class MemberDetailApi(TenantApi):
    required_scopes = {"GET": "admin", "PATCH": "admin", "DELETE": "admin"}

    @extend_schema(responses=MemberOutput, operation_id="members_retrieve", summary="Get a member")
    def get(self, request, member_id):
        return Response(
            MemberOutput(selectors.membership_get(organization=self.organization, membership_id=member_id)).data
        )

    @extend_schema(
        request=MemberUpdateInput,
        responses=MemberOutput,
        operation_id="members_update",
        summary="Change a member's role",
    )
    def patch(self, request, member_id):
        data = self.parse(MemberUpdateInput, request.data)
        membership = selectors.membership_get(organization=self.organization, membership_id=member_id)
        membership = services.membership_change_role(
            organization=self.organization, membership=membership, role=data["role"], actor=self.actor
        )
        return Response(MemberOutput(membership).data)

    @extend_schema(
        responses={204: None}, operation_id="members_remove", summary="Remove a member (never the last owner)"
    )
    def delete(self, request, member_id):
        membership = selectors.membership_get(organization=self.organization, membership_id=member_id)
        services.membership_remove(organization=self.organization, membership=membership, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(TenantApi):
    required_scopes = {"GET": "admin", "POST": "admin"}

    @extend_schema(responses=paginated(InvitationOutput), operation_id="invitations_list", summary="List invitations")
    def get(self, request):
        return self.paginate(selectors.invitation_list(organization=self.organization), InvitationOutput)

    @extend_schema(
        request=InvitationCreateInput,
        responses={201: InvitationOutput},
        operation_id="invitations_create",
        summary="Invite by email",
    )
    def post(self, request):
        data = self.parse(InvitationCreateInput, request.data)
        invitation = services.invitation_create(organization=self.organization, actor=self.actor, **data)
        return Response(InvitationOutput(invitation).data, status=status.HTTP_201_CREATED)


class InvitationRevokeApi(TenantApi):
    required_scopes = {"POST": "admin"}

    @extend_schema(
        request=None,
        responses=InvitationOutput,
        operation_id="invitations_revoke",
        summary="Revoke a pending invitation",
    )
    def post(self, request, invitation_id):
        invitation = selectors.invitation_get(organization=self.organization, invitation_id=invitation_id)
        invitation = services.invitation_revoke(organization=self.organization, invitation=invitation, actor=self.actor)
        return Response(InvitationOutput(invitation).data)
