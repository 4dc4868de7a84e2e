// Every kdcu layer in one include: Linear, Conv2d, BatchNorm1d/2d, ReLU, Identity, Flatten,
// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Sequential, and the init functions.
#pragma once

#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/pool.h"
#include "nn/sequential.h"
#include "nn/simple_layers.h"
