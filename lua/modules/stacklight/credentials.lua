-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.credentials

A password for a plugin, never from its cfg: from a file (a mounted Kubernetes Secret, read
anew on every call, so that a rotated Secret is picked up) or from an environment variable.
A file wins over a variable. Trailing newlines of the file are not part of the password.

API:
    local credentials = require "stacklight.credentials"
    local password, err = credentials.read(password_file, password_env)
      -- "" or nil for either means "not configured"; nil and a message (naming the file or the
      -- variable, never the password) when there is no password
--]]

local string = require "string"
local io = require "io"
local os = require "os"

local gsub = string.gsub
local tostring = tostring

local M = {}

function M.read(password_file, password_env)
    if password_file and password_file ~= "" then
        local fh, err = io.open(password_file, "rb")
        if not fh then return nil, "cannot read password_file: " .. tostring(err) end
        local s = fh:read("*a") or ""
        fh:close()
        s = gsub(s, "[\r\n]+$", "")
        if s == "" then return nil, "password_file " .. password_file .. " is empty" end
        return s
    elseif password_env and password_env ~= "" then
        local getenv = os.getenv
        if not getenv then return nil, "os.getenv is not available: use password_file" end
        local s = getenv(password_env)
        if not s or s == "" then return nil, "environment variable " .. password_env .. " is not set" end
        return s
    end
    return nil, "username is set but neither password_env nor password_file is"
end

return M
