import{a,b}from"./chunk-4CYDACNJ.js";import"./chunk-NB4NDGWE.js";import"./chunk-UDFX3TTT.js";export{b as StatusBadge,a as default};
