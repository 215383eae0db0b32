-- The branch a project compares other branches' screenshots against (NULL: `main`).
ALTER TABLE projects ADD COLUMN default_branch TEXT;
