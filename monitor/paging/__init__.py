"""Paging delivery, an adapter: the routes a page takes to a pager (MQTT, WCTP, a signed
webhook), the dispatcher that tries them with timeouts, retries and a recorded outcome per
attempt, and the delivery part of the paging configuration. When to page whom is the domain's."""
