// Package packaging checks how gstvision ships, without a Docker engine: it parses
// Dockerfile.nvidia, .dockerignore, docker-compose.yml and scripts/versions.env, and its tests
// hold them to each other and to the repository (COPY sources exist and are not ignored, the
// image's config loads with device cuda, EXPOSE matches the listen port, pinned versions agree).
//
// The parsers are small and cover what this repository uses: Dockerfile instructions with
// line continuations, comments, the escape directive, exec (JSON) and shell forms, ARG/ENV
// and ${VAR} substitution; .dockerignore patterns with *, ?, **, [...] and ! exceptions.
// Heredocs (RUN <<EOF) are refused rather than misread.
package packaging
