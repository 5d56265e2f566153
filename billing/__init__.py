"""The billing domain core: tenants, customers, catalogue, subscriptions, invoices, payments."""
