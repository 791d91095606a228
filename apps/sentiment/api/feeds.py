"""/api/v1 RSS / Atom feeds of a monitor: list, add, change, remove, and poll now.

`ROUTES` is collected with the app's other routes (see apps/config/api_urls.py).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.routing import uuid
from apps.core.schema import paginated
from apps.sentiment import feeds
from apps.sentiment.selectors import monitor_get

READ = "sentiment:read"
WRITE = "sentiment:write"


class FeedSourceUpdateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2048, required=False, help_text="An http:// or https:// RSS or Atom feed.")
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="The documents' `source`; empty: the feed's host."
    )
    is_active = serializers.BooleanField(required=False, help_text="Polled on the schedule when true.")


class FeedSourceCreateInput(FeedSourceUpdateInput):
    url = serializers.CharField(max_length=2048, help_text="An http:// or https:// RSS or Atom feed.")


class FeedSourceOutput(serializers.Serializer):
    id = serializers.UUIDField()
    monitor_id = serializers.UUIDField()
    url = serializers.CharField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    last_polled_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text="Why the last poll failed; empty after a success.")
    consecutive_failures = serializers.IntegerField(help_text="Failed polls in a row; each doubles the wait.")
    items_seen = serializers.IntegerField(help_text="Documents this feed has added (new items only).")
    created_at = serializers.DateTimeField()


class FeedPollOutput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "not_modified", "failed"], help_text="not_modified: the feed answered 304, nothing new."
    )
    items = serializers.IntegerField(help_text="Items in the feed.")
    created = serializers.IntegerField(help_text="New items stored as documents.")
    duplicates = serializers.IntegerField(help_text="Items already stored by an earlier poll.")
    rejected = serializers.IntegerField()
    scored = serializers.IntegerField()
    pending = serializers.IntegerField()
    deferred = serializers.IntegerField()
    error = serializers.CharField()
    feed = FeedSourceOutput()


class _MonitorFeedApi(TenantApi):
    def _monitor(self, monitor_id):
        return monitor_get(organization=self.organization, monitor_id=monitor_id)

    def _feed(self, monitor_id, feed_id):
        monitor = self._monitor(monitor_id)
        return feeds.feed_source_get(organization=self.organization, monitor=monitor, feed_source_id=feed_id)


class FeedSourceListApi(_MonitorFeedApi):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        responses=paginated(FeedSourceOutput), operation_id="monitor_feeds_list", summary="A monitor's feeds"
    )
    def get(self, request, monitor_id):
        monitor = self._monitor(monitor_id)
        return self.paginate(feeds.feed_source_list(organization=self.organization, monitor=monitor), FeedSourceOutput)

    @extend_schema(
        request=FeedSourceCreateInput,
        responses={201: FeedSourceOutput},
        operation_id="monitor_feeds_create",
        summary="Add an RSS or Atom feed to a monitor",
    )
    def post(self, request, monitor_id):
        monitor = self._monitor(monitor_id)
        data = self.parse(FeedSourceCreateInput, request.data)
        feed = feeds.feed_source_create(organization=self.organization, monitor=monitor, actor=self.actor, **data)
        return Response(FeedSourceOutput(feed).data, status=status.HTTP_201_CREATED)


class FeedSourceDetailApi(_MonitorFeedApi):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(responses=FeedSourceOutput, operation_id="monitor_feeds_retrieve", summary="Get a feed")
    def get(self, request, monitor_id, feed_id):
        return Response(FeedSourceOutput(self._feed(monitor_id, feed_id)).data)

    @extend_schema(
        request=FeedSourceUpdateInput,
        responses=FeedSourceOutput,
        operation_id="monitor_feeds_update",
        summary="Change a feed",
    )
    def patch(self, request, monitor_id, feed_id):
        feed = self._feed(monitor_id, feed_id)
        data = self.parse(FeedSourceUpdateInput, request.data, partial=True)
        feed = feeds.feed_source_update(organization=self.organization, feed_source=feed, actor=self.actor, **data)
        return Response(FeedSourceOutput(feed).data)

    @extend_schema(
        responses={204: None},
        operation_id="monitor_feeds_destroy",
        summary="Remove a feed (its documents stay)",
    )
    def delete(self, request, monitor_id, feed_id):
        feed = self._feed(monitor_id, feed_id)
        feeds.feed_source_delete(organization=self.organization, feed_source=feed, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedSourcePollApi(_MonitorFeedApi):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        request=None,
        responses=FeedPollOutput,
        operation_id="monitor_feeds_poll",
        summary="Poll a feed now; a failure is in the answer and on the feed",
    )
    def post(self, request, monitor_id, feed_id):
        feed = self._feed(monitor_id, feed_id)
        result = feeds.feed_source_poll(organization=self.organization, feed_source=feed, actor=self.actor)
        return Response(FeedPollOutput(result).data)


_FEEDS = f"monitors/{uuid('monitor_id')}/feeds"
_FEED = f"{_FEEDS}/{uuid('feed_id')}"

ROUTES: list = [
    (_FEEDS, FeedSourceListApi, "monitor-feed-list"),
    (_FEED, FeedSourceDetailApi, "monitor-feed-detail"),
    (f"{_FEED}/poll", FeedSourcePollApi, "monitor-feed-poll"),
]
