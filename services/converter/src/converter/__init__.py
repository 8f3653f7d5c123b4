"""MPXJ conversion worker."""
