"""URLs of the partner REST API, version 1, and of its OpenAPI document and interactive documentation."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.api.views import catalog, crm, erp, fulfilment, orders, quotes, webhooks

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from a URL instead of inline, as the CSP requires.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("v1/products/", catalog.ProductListView.as_view(), name="product-list"),
    path("v1/products/<str:sku>/", catalog.ProductDetailView.as_view(), name="product-detail"),
    path("v1/prices/", catalog.PriceView.as_view(), name="prices"),
    path("v1/availability/", catalog.AvailabilityView.as_view(), name="availability"),
    path("v1/orders/", orders.OrderListView.as_view(), name="order-list"),
    path("v1/orders/<str:number>/", orders.OrderDetailView.as_view(), name="order-detail"),
    path("v1/orders/<str:number>/cancel/", orders.OrderCancelView.as_view(), name="order-cancel"),
    path("v1/orders/<str:number>/erp-ack/", fulfilment.OrderAcknowledgeView.as_view(), name="order-erp-ack"),
    path("v1/orders/<str:number>/shipments/", fulfilment.OrderShipmentView.as_view(), name="order-shipments"),
    path("v1/orders/<str:number>/invoices/", fulfilment.OrderInvoiceView.as_view(), name="order-invoices"),
    path("v1/invoices/<str:number>/payments/", fulfilment.InvoicePaymentView.as_view(), name="invoice-payments"),
    path("v1/quotes/", quotes.QuoteListView.as_view(), name="quote-list"),
    path("v1/quotes/<str:number>/", quotes.QuoteDetailView.as_view(), name="quote-detail"),
    path("v1/quotes/<str:number>/accept/", quotes.QuoteAcceptView.as_view(), name="quote-accept"),
    path("v1/quotes/<str:number>/decline/", quotes.QuoteDeclineView.as_view(), name="quote-decline"),
    path("v1/catalog/updates/", erp.CatalogPushView.as_view(), name="catalog-updates"),
    path("v1/stock/updates/", erp.StockPushView.as_view(), name="stock-updates"),
    path("v1/customers/updates/", crm.CustomerPushView.as_view(), name="customer-updates"),
    path("v1/contracts/updates/", crm.ContractPushView.as_view(), name="contract-updates"),
    path("v1/webhooks/", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path("v1/webhooks/<int:subscription_id>/", webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
]
