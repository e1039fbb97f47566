"""Demos: declarative checks against a running lab, reported as a table, JSON and JUnit XML."""
