"""Reads for the PunchOut shop pages: a session by its token, its catalog, categories and stock."""

import datetime as dt
import hashlib
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.catalog.models import Category, Product, StockLevel
from apps.contracts.models import Contract, Customer
from apps.punchout.errors import SessionNotFound
from apps.punchout.models import BuyerConnection, LoginFailureWindow, PunchOutSession

# Tokens from secrets.token_urlsafe(32) have 43 characters; anything much
# longer is not a token and is not hashed or looked up.
_MAX_TOKEN_LENGTH = 100


def hash_session_token(token: str) -> str:
    """Return the SHA-256 hex digest stored for a session token.

    The token has 256 random bits, so an unkeyed hash is enough to keep a
    leaked table of sessions from opening them.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_for_token(*, token: str) -> PunchOutSession:
    """Return the session with this token, with its connection, customer and contract; raises SessionNotFound."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise SessionNotFound("This PunchOut session does not exist; start a new one from your procurement system.")
    session = (
        PunchOutSession.objects.select_related("connection__customer", "contract")
        .filter(token_hash=hash_session_token(token))
        .first()
    )
    if session is None:
        raise SessionNotFound("This PunchOut session does not exist; start a new one from your procurement system.")
    return session


def shop_products(*, session: PunchOutSession, query: str = "", category: Category | None = None) -> QuerySet[Product]:
    """Return the products the session's customer may buy, optionally in a category subtree or matching a search."""
    products = assortment_products(contract=session.contract).select_related("unit", "category")
    if category is not None:
        products = products.filter(category__path__startswith=category.path)
    if query:
        products = search_products(products, query)
    return products.order_by("sku")


def visible_products_for(*, connection: BuyerConnection, contract: Contract) -> QuerySet[Product]:
    """Return the products a connection's customer may buy under ``contract``."""
    return assortment_products(contract=contract)


def assortment_products(*, contract: Contract) -> QuerySet[Product]:
    """Return the active products of the contract's assortment: the same rows as ``visible_products``.

    ``visible_products`` tests each product's category path against the
    chosen subtrees in a correlated subquery, which PostgreSQL runs once per
    product: 1.4 s for a search matching 100,000 products. Here the ids of
    the categories in the chosen subtrees are read first (one small query,
    cached per contract with the category list), so the filter is a plain
    ``category_id IN (...)``. test_assortment_products_match_visible_products
    keeps the two in step.
    """
    products = Product.objects.filter(is_active=True)
    if contract.assortment != Contract.Assortment.SELECTED:
        return products
    chosen_products = Contract.products.through.objects.filter(contract_id=contract.pk).values("product_id")
    return products.filter(Q(pk__in=chosen_products) | Q(category_id__in=_subtree_category_ids(contract)))


def _subtree_category_ids(contract: Contract) -> list[int]:
    key = f"punchout:subtree-categories:{contract.pk}:{contract.updated_at.timestamp()}"
    ids = cache.get(key)
    if ids is None:
        chosen_paths = list(contract.categories.values_list("path", flat=True))
        if not chosen_paths:
            ids = []
        else:
            in_subtree = Q()
            for path in chosen_paths:
                in_subtree |= Q(path__startswith=path)
            ids = list(Category.objects.filter(in_subtree).values_list("pk", flat=True))
        cache.set(key, ids, CATEGORY_CACHE_SECONDS)
    return ids


def search_products(products: QuerySet[Product], query: str) -> QuerySet[Product]:
    """Filter products whose SKU, name or manufacturer part number contains every word of ``query``.

    Matching ignores case. Each white-space separated word must occur in one
    of the three fields, so "task chair" finds "Chair, task, black". At most
    five words are used.
    """
    for word in query.split()[:5]:
        products = products.filter(
            Q(sku__icontains=word) | Q(name__icontains=word) | Q(manufacturer_part_number__icontains=word)
        )
    return products.order_by("sku")


# Seconds the category list of a contract is kept in the cache. It costs a
# scan of the contract's assortment, and a category added meanwhile shows
# up this much later.
CATEGORY_CACHE_SECONDS = 300


def shop_categories(*, session: PunchOutSession) -> list[Category]:
    """Return the categories that contain the session's products, with their parents, in tree order.

    Cached per contract (and its last change) for CATEGORY_CACHE_SECONDS.
    """
    contract = session.contract
    key = f"punchout:categories:{contract.pk}:{contract.updated_at.timestamp()}"
    categories = cache.get(key)
    if categories is None:
        categories = _categories_of(session)
        cache.set(key, categories, CATEGORY_CACHE_SECONDS)
    return categories


def _categories_of(session: PunchOutSession) -> list[Category]:
    paths = (
        assortment_products(contract=session.contract)
        .filter(category__isnull=False)
        .values_list("category__path", flat=True)
        .distinct()
    )
    codes = {code for path in paths for code in path.strip("/").split("/") if code}
    categories = list(Category.objects.filter(code__in=codes).order_by("path"))
    for category in categories:
        # "/ROOT/" is depth 0, "/ROOT/CHILD/" depth 1.
        category.depth = category.path.count("/") - 2
    return categories


def available_quantities(*, product_ids: list[int]) -> dict[int, Decimal]:
    """Return each product's quantity on hand minus reserved, summed over active warehouses."""
    available: dict[int, Decimal] = dict.fromkeys(product_ids, Decimal("0"))
    rows = StockLevel.objects.filter(product_id__in=product_ids, warehouse__is_active=True).values_list(
        "product_id", "on_hand", "reserved"
    )
    for product_id, on_hand, reserved in rows:
        available[product_id] += max(on_hand - reserved, Decimal("0"))
    return available


def cxml_connections_for_sender(
    *, domain: str, identity: str, on_date: dt.date, client_address: str
) -> list[BuyerConnection]:
    """Return the cXML connections with this Sender credential (domain ignoring case), with what login needs.

    Each connection carries ``customer_is_active``, ``contract_in_force_id``
    (the customer's contract in force on ``on_date``, by the rule of
    ``active_contract_for``), ``login_window_started_at`` and
    ``login_window_failures`` (the failed logins from ``client_address``, a
    throttle.client_address() key). It is one raw query because building the same
    query with the ORM took about 1.5 ms of CPU, close to half of a setup
    request's time (bench/punchout_setup.py).
    """
    connection_table = BuyerConnection._meta.db_table
    sql = f"""
        SELECT b.*,
               c.is_active AS customer_is_active,
               f.window_started_at AS login_window_started_at,
               f.failures AS login_window_failures,
               (SELECT k.id FROM {Contract._meta.db_table} k
                 WHERE k.customer_id = b.customer_id AND k.status = %s AND k.valid_from <= %s
                   AND (k.valid_to IS NULL OR k.valid_to >= %s)
                 ORDER BY k.valid_from DESC, k.id DESC LIMIT 1) AS contract_in_force_id
          FROM {connection_table} b
          JOIN {Customer._meta.db_table} c ON c.id = b.customer_id
          LEFT JOIN {LoginFailureWindow._meta.db_table} f
                 ON f.connection_id = b.id AND f.client_address = %s
         WHERE b.protocol = %s AND UPPER(b.sender_domain) = UPPER(%s) AND b.sender_identity = %s
    """  # noqa: S608 -- table names come from model metadata; every value is a parameter.
    day = on_date.isoformat()
    connections = list(
        BuyerConnection.objects.raw(
            sql,
            [Contract.Status.ACTIVE, day, day, client_address, BuyerConnection.Protocol.CXML, domain, identity],
        )
    )
    for connection in connections:
        # SQLite returns the extra timestamp column as text or a naive datetime in UTC, because
        # the ORM converts only model fields.
        started_at = connection.login_window_started_at
        if isinstance(started_at, str):
            started_at = parse_datetime(started_at)
        if started_at is not None and timezone.is_naive(started_at):
            started_at = timezone.make_aware(started_at, dt.UTC)
        connection.login_window_started_at = started_at
    return connections
