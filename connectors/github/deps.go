package github

import _ "github.com/google/go-github/v89/github" // REST and webhook types
