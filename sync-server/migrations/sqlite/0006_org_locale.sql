-- How the org writes dates and times (a BCP 47 language tag, e.g. en-GB, en-IN, hi-IN): agents see
-- times in the org's time zone and locale, not their browser's.
alter table orgs add column locale text not null default 'en-GB';
