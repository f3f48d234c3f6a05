"""Copy each invoice's one order into its customer and its list of billed orders, before the order column goes."""

from django.db import migrations


def copy_order_to_customer_and_orders(apps, schema_editor):
    Invoice = apps.get_model("orders", "Invoice")
    for invoice in Invoice.objects.select_related("order").exclude(order=None).iterator():
        invoice.customer_id = invoice.order.customer_id
        invoice.save(update_fields=["customer"])
        invoice.orders.add(invoice.order_id)


def copy_first_order_back(apps, schema_editor):
    Invoice = apps.get_model("orders", "Invoice")
    for invoice in Invoice.objects.iterator():
        first = invoice.orders.order_by("pk").first()
        if first is None:
            raise RuntimeError(f"Invoice {invoice.number} bills no order, so it cannot get its single order back.")
        invoice.order_id = first.pk
        invoice.save(update_fields=["order"])


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_invoice_customers_and_payments")]

    operations = [migrations.RunPython(copy_order_to_customer_and_orders, copy_first_order_back)]
