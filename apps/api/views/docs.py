"""OpenAPI descriptions shared by the API's views: the error responses and their examples."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from apps.api.serializers import ErrorDoc


def error_response(description: str, detail: str, code: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorDoc, description=description, examples=[OpenApiExample(code, value={"detail": detail, "code": code})]
    )


ERROR_RESPONSES = {
    400: OpenApiResponse(
        ErrorDoc,
        description="Invalid request; 'fields' names each invalid field.",
        examples=[
            OpenApiExample(
                "invalid",
                value={
                    "detail": "lines.0.quantity: The quantity '0' is not greater than zero.",
                    "code": "invalid",
                    "fields": {"lines.0.quantity": ["The quantity '0' is not greater than zero."]},
                },
            )
        ],
    ),
    401: error_response(
        "No API key, or an invalid, revoked or expired one.", "The API key is invalid.", "invalid_api_key"
    ),
    403: error_response(
        "The key lacks the scope for this request.",
        "This API key lacks the scope orders:write for POST /api/v1/orders/.",
        "permission_denied",
    ),
    404: error_response(
        "Not found, or it belongs to a customer the key does not serve.", "Order 'SO-1' not found.", "not_found"
    ),
    409: error_response(
        "Conflict with the object's state or an earlier request.",
        "Idempotency key 'k-1' was used for another request; use a new key for a new order.",
        "idempotency_key_reused",
    ),
    413: error_response("Too many rows in one request.", "20001 rows sent; send at most 10000.", "too_many_rows"),
    429: error_response(
        "Too many requests; wait for the seconds in Retry-After.", "Request was throttled.", "throttled"
    ),
}

# The responses every authenticated endpoint may return; 404 also where a customer named in the request is not served.
COMMON_ERRORS = {code: ERROR_RESPONSES[code] for code in (400, 401, 403, 404, 429)}
