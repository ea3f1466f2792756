-- Facet counts as one row per audience key (two small JSON objects: per category, per year)
-- instead of one row per (key, category, year): a person's facets are then a handful of rows
-- (one per key) instead of hundreds, which the listing benchmark showed dominating page 1.
CREATE TABLE document_facets (
    audience_key text  PRIMARY KEY,
    categories   jsonb NOT NULL DEFAULT '{}',
    years        jsonb NOT NULL DEFAULT '{}'
);

INSERT INTO document_facets (audience_key, categories, years)
SELECT audience_key,
       (SELECT jsonb_object_agg(category, n) FROM (
            SELECT category, sum(n)::int AS n FROM document_counts c
            WHERE c.audience_key = k.audience_key GROUP BY category) AS by_category),
       (SELECT jsonb_object_agg(year::text, n) FROM (
            SELECT year, sum(n)::int AS n FROM document_counts c
            WHERE c.audience_key = k.audience_key GROUP BY year) AS by_year)
FROM (SELECT DISTINCT audience_key FROM document_counts) AS k;

DROP TABLE document_counts;
