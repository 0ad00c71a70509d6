"""Data in: the raw contract the dbt sources read, and the importer that brings any long sales file into it."""
