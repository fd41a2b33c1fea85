"""Web plumbing shared by every room: middleware, auth dependencies, problem details, pages, templates."""
