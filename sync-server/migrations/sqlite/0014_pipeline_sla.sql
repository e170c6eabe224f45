-- Response-time targets per stage: JSON {stage: {first_response_mins?, response_mins?}} the
-- server has checked (null: none set).
alter table pipelines add column sla text;
