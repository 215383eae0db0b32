-- Files hashed while they are sent are declared by size first: the plan asks for their
-- SHA-256 only when the project keeps an object of that size.
CREATE INDEX blobs_by_project_size ON blobs (project_id, size);
