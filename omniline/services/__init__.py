"""The services: what the business side and the distributor do, over the store."""
