"""The seeded plans. Staff edit them in the console afterwards; seeding never overwrites edits.

Prices are in cents; overage unit prices are cents per unit (0.1 = $0.001 a prediction).
Seats are an entitlement (max_seats), not a metered charge.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

ALL_PRODUCTS = ["support", "sentiment", "recommendations"]

DEFAULT_PLANS: list[dict[str, Any]] = [
    {
        "code": "free",
        "name": "Free",
        "description": "Try every product on small volumes. Stops at the allowance; no card needed.",
        "sort_order": 0,
        "monthly_price_cents": 0,
        "has_hard_limits": True,
        "api_rate_limit_per_minute": 60,
        "products": ALL_PRODUCTS,
        "allows_gpu_training": False,
        "max_active_models": 2,
        "max_seats": 3,
        "max_concurrent_training_jobs": 1,
        "meters": {
            "api_predictions": ("1000", "0"),
            "documents_processed": ("1000", "0"),
            "recommendation_requests": ("1000", "0"),
            "training_minutes_cpu": ("60", "0"),
            "training_minutes_gpu": ("0", "0"),
            "storage_mb": ("100", "0"),
        },
    },
    {
        "code": "starter",
        "name": "Starter",
        "description": "For a team putting one product into production.",
        "sort_order": 1,
        "monthly_price_cents": 4900,
        "has_hard_limits": False,
        "api_rate_limit_per_minute": 600,
        "products": ALL_PRODUCTS,
        "allows_gpu_training": True,
        "max_active_models": 10,
        "max_seats": 10,
        "max_concurrent_training_jobs": 2,
        "meters": {
            "api_predictions": ("50000", "0.1"),
            "documents_processed": ("50000", "0.1"),
            "recommendation_requests": ("100000", "0.05"),
            "training_minutes_cpu": ("600", "2"),
            "training_minutes_gpu": ("60", "10"),
            "storage_mb": ("5000", "0.01"),
        },
    },
    {
        "code": "pro",
        "name": "Pro",
        "description": "All three products at volume, GPU training and more concurrent jobs.",
        "sort_order": 2,
        "monthly_price_cents": 29900,
        "has_hard_limits": False,
        "api_rate_limit_per_minute": 3000,
        "products": ALL_PRODUCTS,
        "allows_gpu_training": True,
        "max_active_models": 50,
        "max_seats": 50,
        "max_concurrent_training_jobs": 4,
        "meters": {
            "api_predictions": ("500000", "0.06"),
            "documents_processed": ("500000", "0.06"),
            "recommendation_requests": ("1000000", "0.03"),
            "training_minutes_cpu": ("6000", "1.5"),
            "training_minutes_gpu": ("600", "8"),
            "storage_mb": ("50000", "0.008"),
        },
    },
    {
        "code": "enterprise",
        "name": "Enterprise",
        "description": "Contracted volumes and limits, set per organization by Tessera staff.",
        "sort_order": 3,
        "is_public": False,
        "monthly_price_cents": 200000,
        "has_hard_limits": False,
        "api_rate_limit_per_minute": 10000,
        "products": ALL_PRODUCTS,
        "allows_gpu_training": True,
        "max_active_models": 500,
        "max_seats": 500,
        "max_concurrent_training_jobs": 8,
        "meters": {
            "api_predictions": ("5000000", "0.04"),
            "documents_processed": ("5000000", "0.04"),
            "recommendation_requests": ("10000000", "0.02"),
            "training_minutes_cpu": ("60000", "1"),
            "training_minutes_gpu": ("6000", "6"),
            "storage_mb": ("500000", "0.005"),
        },
    },
]


def plans_seed(plan_model: Any, plan_meter_model: Any) -> int:
    """Create the default plans that do not exist yet. Returns how many were created.

    Takes the model classes so the data migration can pass its historical models.
    """
    created = 0
    for spec in DEFAULT_PLANS:
        fields = {key: value for key, value in spec.items() if key not in ("code", "meters")}
        plan, is_new = plan_model.objects.get_or_create(code=spec["code"], defaults=fields)
        if not is_new:
            continue
        created += 1
        plan_meter_model.objects.bulk_create(
            [
                plan_meter_model(
                    plan=plan, meter=meter, included_quantity=Decimal(included), overage_unit_price_cents=Decimal(price)
                )
                for meter, (included, price) in spec["meters"].items()
            ]
        )
    return created
