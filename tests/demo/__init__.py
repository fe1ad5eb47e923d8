"""Tests of the Learning Assistant web demo (a real app process, real Redis, real browser)."""
